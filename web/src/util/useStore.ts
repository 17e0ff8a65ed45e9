import { useEffect, useState } from 'preact/hooks';
import type { Store } from './Store.ts';

/** Re-renders the calling component whenever `store` changes. */
export function useStore(store: Store | undefined): void {
  const [, setVersion] = useState(0);
  useEffect(() => store?.subscribe(() => setVersion((v) => v + 1)), [store]);
}
