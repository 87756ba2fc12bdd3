// A labelled form control with its error next to it (aria-invalid + aria-describedby, so
// screen readers read the problem with the field). Give `id` when an error summary links
// to the field.
import { useId, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from 'react';

interface Common {
  label: string;
  error?: string | undefined;
  hint?: ReactNode;
}

/** What ties a control to its label, hint and error: the control spreads these. */
interface ControlAttributes {
  id: string;
  'aria-invalid': true | undefined;
  'aria-describedby': string | undefined;
}

/** The label, the control `control` renders with `ControlAttributes`, then hint and error. */
function Field({ label, error, hint, id: givenId, control }: Common & { id?: string | undefined; control: (attributes: ControlAttributes) => ReactNode }) {
  const generated = useId();
  const id = givenId ?? generated;
  const errorId = `${id}-error`;
  const hintId = `${id}-hint`;
  const describedBy = [error ? errorId : null, hint ? hintId : null].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field${error ? ' has-error' : ''}`}>
      <label htmlFor={id}>{label}</label>
      {control({ id, 'aria-invalid': error ? true : undefined, 'aria-describedby': describedBy })}
      {hint ? (
        <span className="field-hint" id={hintId}>
          {hint}
        </span>
      ) : null}
      {error ? (
        <span className="field-error" id={errorId}>
          {error}
        </span>
      ) : null}
    </div>
  );
}

export function TextField({ label, error, hint, id, ...input }: Common & InputHTMLAttributes<HTMLInputElement>) {
  return <Field label={label} error={error} hint={hint} id={id} control={(attributes) => <input {...attributes} {...input} />} />;
}

export function TextAreaField({ label, error, hint, id, ...input }: Common & TextareaHTMLAttributes<HTMLTextAreaElement>) {
  return <Field label={label} error={error} hint={hint} id={id} control={(attributes) => <textarea {...attributes} {...input} />} />;
}

export function SelectField({ label, error, hint, children, id, ...select }: Common & SelectHTMLAttributes<HTMLSelectElement>) {
  return (
    <Field
      label={label}
      error={error}
      hint={hint}
      id={id}
      control={(attributes) => (
        <select {...attributes} {...select}>
          {children}
        </select>
      )}
    />
  );
}

/** A form's submit button: disabled, saying `busyLabel`, while its request is on its way. */
export function SubmitButton({ busy, busyLabel, block = false, children }: { busy: boolean; busyLabel: string; block?: boolean; children: ReactNode }) {
  return (
    <button type="submit" className={`button primary${block ? ' block' : ''}`} disabled={busy}>
      {busy ? busyLabel : children}
    </button>
  );
}
