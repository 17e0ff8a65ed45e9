/** Posts a tick every `ms` milliseconds (the first message); a worker's timers are not slowed in a background tab. */
const scope = self as unknown as Worker;
scope.onmessage = (event: MessageEvent<number>) => {
  setInterval(() => scope.postMessage(0), event.data);
};
