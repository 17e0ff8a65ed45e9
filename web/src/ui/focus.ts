/**
 * A focusout handler for a popup and the button that opens it: `close` runs when the focus goes
 * somewhere outside the element (a click elsewhere, Tab past the last item), not when it moves inside.
 */
export function closeWhenFocusLeaves(close: () => void) {
  return (event: FocusEvent & { currentTarget: HTMLElement }) => {
    const next = event.relatedTarget as Node | null;
    if (!next || !event.currentTarget.contains(next)) close();
  };
}
