import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import type { FromWorker, ToWorker, WorkerData } from './protocol.js';
import { RoomService } from './RoomService.js';

/** A room worker thread: a `RoomService` behind the thread's port. */
const port = parentPort;
if (!port) throw new Error('roomWorker.ts runs as a worker thread');
const { index, config } = workerData as WorkerData;
const log = pino({ level: config.logLevel, base: { worker: index } });
const service = new RoomService(index, config, log, (message: FromWorker) => port.postMessage(message));
port.on('message', (message: ToWorker) => service.receive(message));
port.postMessage({ t: 'ready' } satisfies FromWorker);
