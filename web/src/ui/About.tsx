import type { JSX } from 'preact';

/** A nod to the port this project is named after. */
export function About(): JSX.Element {
  return (
    <p class="about">
      Port 545 was assigned in 1995 to QuickTime Conferencing, Apple's early video calling for the Mac. The
      service is long gone; the port is still reserved for it. port545 puts a call back on it.
    </p>
  );
}
