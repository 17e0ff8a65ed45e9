import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { sendDatagram } from '../sfu/udpSend.js';
import { useThreadMux } from '../werift/udpMux.js';
import { WorkerUdpMux } from '../werift/udpMuxRelay.js';
import type { FromWorker, ToWorker, WorkerData } from './protocol.js';
import { RoomService } from './RoomService.js';

/** A room worker thread: a `RoomService` behind the thread's port. */
const port = parentPort;
if (!port) throw new Error('roomWorker.ts runs as a worker thread');
const { index, config, udpMux } = workerData as WorkerData;
// With rtc.udpPort: this thread's connections use the main thread's one UDP socket.
if (udpMux && typeof config.rtc.udpPort === 'number')
  useThreadMux(new WorkerUdpMux(config.rtc.udpPort, udpMux, sendDatagram));
const log = pino({ level: config.logLevel, base: { worker: index } });
const service = new RoomService(index, config, log, (message: FromWorker, transfer) =>
  port.postMessage(message, transfer),
);
port.on('message', (message: ToWorker) => service.receive(message));
port.postMessage({ t: 'ready' } satisfies FromWorker);
