/** What the browser remembers between visits. Storage may be unavailable (private mode): then nothing is. */
const PREFIX = 'port545.';

export interface Preferences {
  name: string;
  cameraId: string;
  micId: string;
  /** Whether the camera / microphone were on when the person last joined. */
  cameraOn: boolean;
  micOn: boolean;
}

const defaults: Preferences = { name: '', cameraId: '', micId: '', cameraOn: true, micOn: true };

export function loadPreferences(): Preferences {
  try {
    const raw = localStorage.getItem(`${PREFIX}preferences`);
    if (!raw) return { ...defaults };
    const parsed = JSON.parse(raw) as Partial<Preferences>;
    return {
      name: typeof parsed.name === 'string' ? parsed.name : defaults.name,
      cameraId: typeof parsed.cameraId === 'string' ? parsed.cameraId : defaults.cameraId,
      micId: typeof parsed.micId === 'string' ? parsed.micId : defaults.micId,
      cameraOn: typeof parsed.cameraOn === 'boolean' ? parsed.cameraOn : defaults.cameraOn,
      micOn: typeof parsed.micOn === 'boolean' ? parsed.micOn : defaults.micOn,
    };
  } catch {
    return { ...defaults };
  }
}

export function savePreferences(update: Partial<Preferences>): void {
  try {
    localStorage.setItem(`${PREFIX}preferences`, JSON.stringify({ ...loadPreferences(), ...update }));
  } catch {
    // Nothing to do: the page works the same, it just forgets.
  }
}
