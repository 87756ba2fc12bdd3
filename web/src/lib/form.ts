// What every form with client-side checks keeps: the problems its last submit found (shown
// next to the fields and in the ErrorSummary) and how many submits they stopped (the summary
// takes focus again on each, so a screen reader hears it every time).
import { useState } from 'react';

export function useLocalChecks() {
  const [local, setLocal] = useState<Record<string, string>>({});
  const [attempt, setAttempt] = useState(0);
  /** Records `problems`; false, and one more attempt, when there are any. */
  const passes = (problems: Record<string, string>): boolean => {
    setLocal(problems);
    if (Object.keys(problems).length === 0) return true;
    setAttempt((n) => n + 1);
    return false;
  };
  return { local, setLocal, attempt, passes };
}

/** The change handler of each field of a form kept as one object: `set('email')`. */
export function fieldSetter<F>(setForm: (update: (form: F) => F) => void) {
  return (key: keyof F) => (e: { target: { value: string } }) => setForm((form) => ({ ...form, [key]: e.target.value }));
}
