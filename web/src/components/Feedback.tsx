// Shared bits of feedback: errors as alerts, loading as a status, empty states.
import type { ReactNode } from 'react';
import { errorMessage } from '../api/errors';

export function ErrorAlert({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  return (
    <div className="alert alert-error" role="alert">
      {title ? <strong>{title} </strong> : null}
      {errorMessage(error)}
    </div>
  );
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <p className="loading" role="status">
      {label}
    </p>
  );
}

export function Notice({ children, tone = 'info' }: { children: ReactNode; tone?: 'info' | 'success' | 'warning' }) {
  return <div className={`alert alert-${tone}`} role={tone === 'warning' ? 'alert' : 'status'}>{children}</div>;
}
