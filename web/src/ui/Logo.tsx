import type { JSX } from 'preact';

export function Logo(): JSX.Element {
  return (
    <span class="logo">
      <svg width="26" height="26" viewBox="0 0 32 32" aria-hidden="true" focusable="false">
        <rect x="2" y="7" width="20" height="18" rx="5" fill="currentColor" />
        <path d="M23 13l7-4v14l-7-4z" fill="currentColor" />
        <circle cx="12" cy="16" r="3.2" fill="var(--logo-dot, #fff)" />
      </svg>
      <span class="logo-text">port545</span>
    </span>
  );
}
