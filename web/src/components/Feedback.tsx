// Shared bits of feedback: errors as alerts, loading as a status, empty states.
import { useEffect, useId, useRef, type ReactNode } from 'react';
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

/** A page whose one object (an order, a product) could not be loaded. */
export function Unavailable({ title, error, what }: { title: string; error: unknown; what: string }) {
  return (
    <section>
      <h1>{title}</h1>
      <ErrorAlert error={error} title={`Could not load ${what}.`} />
    </section>
  );
}

/** A page whose one object does not exist: `children` say so and where to go instead. */
export function NotFound({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section className="panel narrow">
      <h1>{title}</h1>
      <p>{children}</p>
    </section>
  );
}

/** The button under a paged list that fetches its next page. */
export function LoadMore({ fetching, onMore, label }: { fetching: boolean; onMore: () => void; label: string }) {
  return (
    <div className="load-more">
      <button type="button" className="button" disabled={fetching} onClick={onMore}>
        {fetching ? 'Loading…' : label}
      </button>
    </div>
  );
}

export interface SummaryItem {
  /** The id of the control the message is about (the link moves focus there). */
  id: string;
  label: string;
  message: string;
}

/**
 * What is wrong with a form, at its top, after a submit the app refused before sending:
 * one link per problem to its field. It takes focus on each refused submit (`attempt`
 * counts them), so keyboard and screen reader users hear it and can jump to each field.
 */
export function ErrorSummary({ items, attempt }: { items: SummaryItem[]; attempt: number }) {
  const ref = useRef<HTMLDivElement>(null);
  const titleId = useId();
  const shown = items.length > 0;
  useEffect(() => {
    if (shown && attempt > 0) ref.current?.focus();
  }, [attempt, shown]);
  if (!shown) return null;
  return (
    <div ref={ref} className="alert alert-error error-summary" role="alert" tabIndex={-1} aria-labelledby={titleId}>
      <h2 id={titleId} className="error-summary-title">
        {items.length === 1 ? 'There is a problem' : `There are ${items.length} problems`}
      </h2>
      <ul>
        {items.map((item) => (
          <li key={item.id}>
            <a
              href={`#${item.id}`}
              onClick={(event) => {
                const field = document.getElementById(item.id);
                if (!field) return;
                event.preventDefault();
                field.focus();
                field.scrollIntoView?.({ block: 'center' });
              }}
            >
              {item.label}: {item.message}
            </a>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** Summary items for the fields of `labels` that have an error, in the form's order. */
export function summaryItems(
  errors: Record<string, string | undefined>,
  labels: Record<string, string>,
  idFor: (field: string) => string,
): SummaryItem[] {
  return Object.entries(labels).flatMap(([field, label]) => {
    const message = errors[field];
    return message ? [{ id: idFor(field), label, message }] : [];
  });
}
