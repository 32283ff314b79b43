/**
 * tulip-ts: PEP 3156 (Tulip) in TypeScript. The public face: every public name, re-exported, nothing else.
 */
export {
  AbstractEventLoop, DefaultEventLoopPolicy, Handle, TimerHandle,
  get_event_loop, get_event_loop_policy, get_running_loop, new_event_loop, set_event_loop, set_event_loop_policy,
  type AbstractEventLoopPolicy, type Callback, type FileDescriptorLike,
} from './events.js';
export {
  CancelledError, Future, InvalidStateError, isfuture,
  type Coroutine, type FutureOptions, type Suspend,
} from './futures.js';
export {
  Task, coroutine, ensure_future, ensure_future as async, iscoroutine, iscoroutinefunction, task,
  type Awaitable, type TaskOptions,
} from './tasks.js';
export { BaseEventLoop } from './base_events.js';
export { SelectorEventLoop } from './selector_events.js';
export {
  NSIG, SIGALRM, SIGCHLD, SIGCONT, SIGHUP, SIGINT, SIGKILL, SIGPIPE, SIGQUIT, SIGSTOP, SIGTERM, SIGTSTP,
  SIGUSR1, SIGUSR2, SIGWINCH, signal_name, signals,
} from './unix_signals.js';
export {
  BaseSelector, DefaultSelector, EpollSelector, KqueueSelector, PollSelector, SelectSelector,
  EVENT_READ, EVENT_WRITE, available_selectors, type SelectorKey,
} from './selectors.js';
export { TestLoop, type TestLoopOptions } from './test_utils.js';
export {
  BlockingIOError, BrokenPipeError, ChildProcessError, ConnectionAbortedError, ConnectionError,
  ConnectionRefusedError, ConnectionResetError, FileExistsError, FileNotFoundError, InterruptedError,
  IsADirectoryError, KeyError, NotADirectoryError, NotImplementedError, OSError, PermissionError,
  ProcessLookupError, RuntimeError, TimeoutError, errno, errorcode, gaierror,
} from './errors.js';
export { logger, Logger, type LogLevel, type LogRecord } from './log.js';
export {
  ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, as_completed, gather, sleep, wait, wait_for,
  type AsCompletedOptions, type GatherOptions, type ReturnWhen, type WaitOptions,
} from '../coroutines/waiting.js';
export * from './socket.js';
export { BaseProtocol, BufferedProtocol, DatagramProtocol, Protocol, SubprocessProtocol } from './protocols.js';
export {
  BaseSubprocessTransport, DEVNULL, PIPE, STDOUT, type ProcessInfo, type StdioOption, type SubprocessOptions,
} from './base_subprocess.js';
export { subprocess_exec, subprocess_shell, type ExecArgs } from '../coroutines/subprocess.js';
export {
  Process, SubprocessStreamProtocol, create_subprocess_exec, create_subprocess_shell, type ProcessOptions,
} from '../coroutines/process.js';
export { BaseTransport, DatagramTransport, ReadTransport, SubprocessTransport, Transport, WriteTransport } from './transports.js';
export { SelectorDatagramTransport, SelectorSocketTransport } from './selector_transports.js';
export {
  UnixReadPipeTransport, UnixWritePipeTransport, connect_read_pipe, connect_write_pipe, os_pipe, type PipeLike,
} from './unix_events.js';
export {
  ConcurrentFuture, ThreadPoolExecutor, executor_function, type Executor, type ExecutorFunction,
} from './executor.js';
export {
  Server, create_connection, create_datagram_endpoint, create_server, create_unix_connection, create_unix_server,
  start_serving, start_tls, stop_serving,
  type ConnectionOptions, type DatagramOptions, type ServingOptions, type StartTlsOptions, type UnixConnectionOptions, type UnixServingOptions,
} from '../coroutines/network.js';
export { getaddrinfo, getnameinfo, type AddrInfo, type LookupOptions } from '../coroutines/lookup.js';
export * as ssl from './ssl.js';
export {
  CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED, CertificateError, PROTOCOL_TLS, PROTOCOL_TLS_CLIENT, PROTOCOL_TLS_SERVER,
  Purpose, SSLCertVerificationError, SSLContext, SSLEOFError, SSLError, SSLObject, SSLSyscallError, SSLWantReadError,
  SSLWantWriteError, SSLZeroReturnError, TLSVersion, create_default_context, type SniCallback,
} from './ssl.js';
export { SSLProtocol, SSLProtocolTransport, type SSLTimeouts } from './sslproto.js';
export { ZlibError, ZlibStream, type ZlibErrorCode, type ZlibMode, type ZlibOptions } from './zlib.js';
export {
  DataBuffer, EofStream, LineLimitExceededError, ParserBuffer, StreamBuffer, StreamProtocol, chunks_parser, lines_parser,
  type DataBufferOptions, type LimitErrorClass, type NeedData, type Parser, type ParserFunction,
} from '../coroutines/parsers.js';
export {
  BoundedSemaphore, Condition, Event, EventWaiter, Lock, Semaphore, type Block, type TimeoutOption,
} from '../coroutines/locks.js';
export {
  JoinableQueue, LifoQueue, PriorityQueue, Queue, QueueEmpty, QueueFull, python_compare, type PriorityQueueOptions,
} from '../coroutines/queues.js';
export {
  DEFAULT_LIMIT, FlowControlProtocol, IncompleteReadError, LimitOverrunError, StreamReader, StreamReaderProtocol, StreamWriter,
  open_connection, open_unix_connection, start_server, start_unix_server,
  type ClientConnectedCallback, type OpenConnectionOptions, type OpenUnixConnectionOptions, type StartServerOptions,
  type StartUnixServerOptions, type StreamOptions,
} from '../coroutines/streams.js';
export * as http from '../coroutines/http/index.js';
