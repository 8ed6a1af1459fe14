// Preloaded into the engine process by test/unit/privacy-process.test.ts (NODE_OPTIONS=--require):
// every Node networking entry point records the attempt to $HASTEN_NET_TRAP_LOG and throws.
'use strict';
const fs = require('node:fs');
const log = process.env.HASTEN_NET_TRAP_LOG;
const note = (line) => log && fs.appendFileSync(log, `${line}\n`);

function trap(obj, name, label) {
  obj[name] = (...args) => {
    note(`attempt ${label}(${String(args[0]).slice(0, 80)})`);
    throw new Error(`network access attempted: ${label}`);
  };
}

const net = require('node:net');
const dns = require('node:dns');
trap(net, 'connect', 'net.connect');
trap(net, 'createConnection', 'net.createConnection');
trap(net.Socket.prototype, 'connect', 'net.Socket.connect');
trap(require('node:tls'), 'connect', 'tls.connect');
for (const m of ['node:http', 'node:https']) {
  trap(require(m), 'request', `${m}.request`);
  trap(require(m), 'get', `${m}.get`);
}
trap(require('node:http2'), 'connect', 'http2.connect');
trap(require('node:dgram'), 'createSocket', 'dgram.createSocket');
trap(dns, 'lookup', 'dns.lookup');
trap(dns, 'resolve', 'dns.resolve');
trap(dns.promises, 'lookup', 'dns.promises.lookup');
trap(globalThis, 'fetch', 'fetch');
note(`armed ${process.pid}`);
