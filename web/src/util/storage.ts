/** What the browser remembers between visits. Storage may be unavailable (private mode): then nothing is. */
import type { ParticipantCard } from '../sdk.ts';

const PREFIX = 'port545.';

export interface Preferences {
  name: string;
  cameraId: string;
  micId: string;
  /** Whether the camera / microphone were on when the person last joined. */
  cameraOn: boolean;
  micOn: boolean;
  /** Noise suppression on the microphone: none, the browser's own, or RNNoise. */
  noiseSuppression: NoiseSuppression;
  /** What others see behind the person: the room as it is, or blurred. */
  background: Background;
  /** Where the call's sound plays ('' is the system's default). */
  speakerId: string;
}

export type NoiseSuppression = 'off' | 'browser' | 'rnnoise';
const SUPPRESSIONS: readonly string[] = ['off', 'browser', 'rnnoise'];
export type Background = 'none' | 'blur';

/** What was saved, also when it was saved as true/false. */
function suppressionOf(value: unknown): NoiseSuppression {
  if (value === false) return 'off';
  if (typeof value === 'string' && SUPPRESSIONS.includes(value)) return value as NoiseSuppression;
  return 'browser';
}

const defaults: Preferences = {
  name: '',
  cameraId: '',
  micId: '',
  cameraOn: true,
  micOn: true,
  noiseSuppression: 'browser',
  background: 'none',
  speakerId: '',
};

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
      noiseSuppression: suppressionOf(parsed.noiseSuppression),
      background: parsed.background === 'blur' ? 'blur' : 'none',
      speakerId: typeof parsed.speakerId === 'string' ? parsed.speakerId : defaults.speakerId,
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

const CARD_FIELDS = ['pronouns', 'organisation', 'link', 'avatar'] as const;

/** The calling card set in this browser, sent with every join; undefined when there is none. */
export function loadCard(): ParticipantCard | undefined {
  try {
    const raw = localStorage.getItem(`${PREFIX}card`);
    if (!raw) return undefined;
    const parsed = JSON.parse(raw) as Record<string, unknown>;
    const card: ParticipantCard = {};
    for (const field of CARD_FIELDS) {
      const value = parsed[field];
      if (typeof value === 'string' && value.trim()) card[field] = value;
    }
    return Object.keys(card).length > 0 ? card : undefined;
  } catch {
    return undefined;
  }
}

export function saveCard(card: ParticipantCard | undefined): void {
  try {
    if (card && Object.values(card).some(Boolean))
      localStorage.setItem(`${PREFIX}card`, JSON.stringify(card));
    else localStorage.removeItem(`${PREFIX}card`);
  } catch {
    // As above: forgotten, nothing else.
  }
}
