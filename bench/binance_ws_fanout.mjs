// Fan-out benchmark of the Binance-compatible WebSocket streams: N clients on
// /stream?streams=btcusdt@depth@100ms/btcusdt@bookTicker/btcusdt@depth5/ethusdt@depth@100ms/!miniTicker@arr
// against a real coinage (replaying at SPEED x), for SECONDS. Prints messages/s delivered, the
// delivery delay of depthUpdate (receive time - event time E, ms; same host clock) and the server's
// CPU time and RSS (from /proc). Usage:
//   COINAGE_BIN=build/coinage node bench/binance_ws_fanout.mjs [clients=200] [seconds=20] [speed=5]
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { startServer, sleep } from '../tests/api/helpers.mjs';

const require = createRequire(path.resolve('tests/api/package.json'));
const WebSocket = require('ws');
const [N = 200, SECONDS = 20, SPEED = 5] = process.argv.slice(2).map(Number);
const STREAMS = 'btcusdt@depth@100ms/btcusdt@bookTicker/btcusdt@depth5/ethusdt@depth@100ms/!miniTicker@arr';

function procStat(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(f[11]) + Number(f[12]); // utime + stime
  const rss = Number(fs.readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096;
  return { cpuMs: (ticks * 1000) / 100, rss };
}

const srv = await startServer({ speed: SPEED });
const clients = [];
let msgs = 0;
let bytes = 0;
const delays = [];
let gaps = 0;
for (let i = 0; i < N; i++) {
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/stream?streams=${STREAMS}`);
  const last = {};
  ws.on('message', (d) => {
    msgs++;
    bytes += d.length;
    const m = JSON.parse(d);
    if (m.data && m.data.e === 'depthUpdate') {
      delays.push(Date.now() - m.data.E);
      if (last[m.stream] !== undefined && m.data.U !== last[m.stream] + 1) gaps++;
      last[m.stream] = m.data.u;
    }
  });
  await new Promise((r) => ws.on('open', r));
  clients.push(ws);
}
await sleep(2000);
msgs = 0; bytes = 0; delays.length = 0; gaps = 0;
const s0 = procStat(srv.proc.pid);
const t0 = Date.now();
await sleep(SECONDS * 1000);
const dt = (Date.now() - t0) / 1000;
const s1 = procStat(srv.proc.pid);
delays.sort((a, b) => a - b);
const q = (p) => delays[Math.min(delays.length - 1, Math.floor(p * delays.length))];
console.log(JSON.stringify({
  clients: N, seconds: dt, replay_speed: SPEED,
  msgs_per_s: Math.round(msgs / dt), mbytes_per_s: +(bytes / dt / 1e6).toFixed(2),
  depth_delay_ms: { p50: q(0.5), p99: q(0.99), max: delays[delays.length - 1] },
  depth_gaps: gaps,
  server_cpu_percent: +((100 * (s1.cpuMs - s0.cpuMs)) / (dt * 1000)).toFixed(1),
  server_rss_mb: +(s1.rss / 1e6).toFixed(1),
}));
for (const ws of clients) ws.close();
await srv.stop();
