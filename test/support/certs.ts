// Test certificates made with the openssl CLI in a temporary directory: a CA, a server certificate for
// localhost / 127.0.0.1, a client certificate, a self-signed server certificate, a certificate for another
// host name, and the server key encrypted with a password. EC keys: quick to make.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Certs {
  dir: string;
  ca: string;
  server_cert: string;
  server_key: string;
  server_key_encrypted: string;
  password: string;
  client_cert: string;
  client_key: string;
  self_signed_cert: string;
  self_signed_key: string;
  other_cert: string;
  other_key: string;
  cleanup(): void;
}

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function signed(dir: string, name: string, cn: string, san: string | null): void {
  openssl(dir, ['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}/O=tulip-ts tests`]);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, san ? `subjectAltName=${san}\n` : 'basicConstraints=CA:FALSE\n');
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', ext]);
}

export function make_certs(): Certs {
  const dir = mkdtempSync(join(tmpdir(), 'tulip-ssl-'));
  openssl(dir, ['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=tulip-ts test CA']);
  signed(dir, 'server', 'localhost', 'DNS:localhost,IP:127.0.0.1');
  signed(dir, 'client', 'tulip client', null);
  signed(dir, 'other', 'other.example', 'DNS:other.example');
  openssl(dir, ['req', '-x509', ...EC, '-keyout', 'self.key', '-out', 'self.pem', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
  openssl(dir, ['pkey', '-in', 'server.key', '-aes256', '-passout', 'pass:s3cret', '-out', 'server_enc.key']);
  const p = (f: string): string => join(dir, f);
  return {
    dir,
    ca: p('ca.pem'),
    server_cert: p('server.pem'),
    server_key: p('server.key'),
    server_key_encrypted: p('server_enc.key'),
    password: 's3cret',
    client_cert: p('client.pem'),
    client_key: p('client.key'),
    self_signed_cert: p('self.pem'),
    self_signed_key: p('self.key'),
    other_cert: p('other.pem'),
    other_key: p('other.key'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
