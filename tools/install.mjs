// npm's install hook: use a prebuild or an earlier build when one loads, otherwise compile the addon.
// node-gyp must never download headers here (the machines are offline), so when npm did not pass a
// nodedir we point node-gyp at the headers that ship with this node, if they are installed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function loads() {
  try {
    require('node-gyp-build')(root);
    return true;
  } catch {
    return false;
  }
}

if (!loads() || process.env.TULIP_FORCE_BUILD) {
  const args = ['rebuild'];
  const prefix = join(dirname(process.execPath), '..');
  if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include/node/node_api.h'))) {
    args.push(`--nodedir=${prefix}`);
  }
  const gyp = process.env.npm_config_node_gyp;
  const [cmd, argv] = gyp ? [process.execPath, [gyp, ...args]] : ['node-gyp', args];
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('tulip-ts: building the native addon failed (see above); it needs python3, make, a C compiler and Node headers.');
    process.exit(r.status ?? 1);
  }
}
