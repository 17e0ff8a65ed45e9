import { useEffect, useState } from 'preact/hooks';
import type * as Y from 'yjs';
import type { CallSession } from '../call/CallSession.ts';

/** The current document of the room's board: a host's clear replaces it, and everything bound to it follows. */
export function useBoardDoc(session: CallSession): Y.Doc | undefined {
  const board = session.room?.board;
  const [doc, setDoc] = useState(board?.doc);
  useEffect(() => {
    if (!board) return;
    setDoc(board.doc);
    return board.on('cleared', () => setDoc(board.doc));
  }, [board]);
  return board && doc === board.doc ? doc : board?.doc;
}
