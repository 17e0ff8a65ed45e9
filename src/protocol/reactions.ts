/** The reactions a person can send: a few, so that they read at a glance and cannot carry text. */
export const REACTIONS = ['👍', '👏', '😂', '😮', '❤️', '🎉'] as const;
export type Reaction = (typeof REACTIONS)[number];
/** Reactions one participant may send per REACTION_WINDOW_MS; past it, TOO_MANY_REACTIONS. */
export const REACTIONS_PER_WINDOW = 5;
export const REACTION_WINDOW_MS = 10_000;
