// Sign in, register and change the password. Both merge the guest cart into the account on the server; the
// store then refetches the cart (see store.ts). Field errors from the BFF (`input.email`,
// `input.password`, …) appear next to their fields.
import { useState, type FormEvent } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { useChangePasswordMutation, useLoginMutation, useRegisterMutation } from '../api/api';
import { fieldErrors, isApiError } from '../api/errors';
import { ErrorAlert, ErrorSummary, summaryItems } from '../components/Feedback';
import { SubmitButton, TextField } from '../components/Field';
import { RequireSignIn } from '../components/RequireSignIn';
import { fieldSetter, useLocalChecks } from '../lib/form';
import { safeNext } from '../lib/nav';
import { usePageTitle } from '../lib/page';

export function LoginPage() {
  const [params] = useSearchParams();
  const next = safeNext(params.get('next'));
  const navigate = useNavigate();
  const [login, { isLoading, error }] = useLoginMutation();
  usePageTitle('Sign in');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    if (isLoading) return;
    const result = await login({ email: email.trim(), password });
    if (result.data) navigate(next, { replace: true });
  };

  const errors = fieldErrors(error);
  // Unknown email and wrong password fail alike, on purpose.
  const message =
    isApiError(error) && error.code === 'UNAUTHENTICATED' ? { ...error, message: 'Email or password is incorrect.' } : error;

  return (
    <section className="panel narrow">
      <h1>Sign in</h1>
      <form onSubmit={onSubmit} noValidate>
        <ErrorAlert error={message} />
        <TextField label="Email" type="email" name="email" autoComplete="email" required value={email} error={errors.email} onChange={(e) => setEmail(e.target.value)} />
        <TextField
          label="Password"
          type="password"
          name="password"
          autoComplete="current-password"
          required
          value={password}
          error={errors.password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <SubmitButton busy={isLoading} busyLabel="Signing in…" block>
          Sign in
        </SubmitButton>
      </form>
      <p>
        New here? <Link to={`/register?next=${encodeURIComponent(next)}`}>Create an account</Link>
      </p>
    </section>
  );
}

const REGISTER_LABELS = { name: 'Name', email: 'Email', password: 'Password' };
const registerId = (field: string) => `register-${field}`;

export function RegisterPage() {
  const [params] = useSearchParams();
  const next = safeNext(params.get('next'));
  const navigate = useNavigate();
  const [register, { isLoading, error, reset }] = useRegisterMutation();
  usePageTitle('Create an account');
  const [form, setForm] = useState({ name: '', email: '', password: '' });
  const { local, attempt, passes } = useLocalChecks();

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    if (isLoading) return;
    const problems: Record<string, string> = {};
    if (!form.name.trim()) problems.name = 'Please enter your name.';
    if (!/^\S+@\S+\.\S+$/.test(form.email.trim())) problems.email = 'Please enter an email address like name@example.com.';
    if (form.password.length < 10) problems.password = 'Use at least 10 characters.';
    if (!passes(problems)) {
      reset();
      return;
    }
    const result = await register({ name: form.name.trim(), email: form.email.trim(), password: form.password });
    if (result.data) navigate(next, { replace: true });
  };

  const server = fieldErrors(error, 'input.');
  const errors = { ...server, ...local };
  const set = fieldSetter(setForm);

  return (
    <section className="panel narrow">
      <h1>Create an account</h1>
      <form onSubmit={onSubmit} noValidate aria-label="Create an account">
        <ErrorSummary items={summaryItems(local, REGISTER_LABELS, registerId)} attempt={attempt} />
        <ErrorAlert error={error} />
        <TextField id={registerId('name')} label="Name" name="name" autoComplete="name" required value={form.name} error={errors.name} onChange={set('name')} />
        <TextField id={registerId('email')} label="Email" type="email" name="email" autoComplete="email" required value={form.email} error={errors.email} onChange={set('email')} />
        <TextField
          id={registerId('password')}
          label="Password"
          type="password"
          name="password"
          autoComplete="new-password"
          required
          hint="At least 10 characters."
          value={form.password}
          error={errors.password}
          onChange={set('password')}
        />
        <SubmitButton busy={isLoading} busyLabel="Creating account…" block>
          Create account
        </SubmitButton>
      </form>
      <p>
        Already have an account? <Link to={`/login?next=${encodeURIComponent(next)}`}>Sign in</Link>
      </p>
    </section>
  );
}

/** Changing the password ends every other session of the account (other devices sign in
 * again); this one continues. */
export function ChangePasswordPage() {
  return (
    <RequireSignIn why="Sign in to change your password.">
      <ChangePasswordForm />
    </RequireSignIn>
  );
}

const PASSWORD_LABELS = { currentPassword: 'Current password', newPassword: 'New password', repeat: 'Repeat the new password' };
const passwordId = (field: string) => `password-${field}`;
/** The three password fields, in order; they differ only in these. */
const PASSWORD_FIELDS = [
  { name: 'currentPassword', autoComplete: 'current-password', hint: undefined },
  { name: 'newPassword', autoComplete: 'new-password', hint: 'At least 10 characters.' },
  { name: 'repeat', autoComplete: 'new-password', hint: undefined },
] as const;

function ChangePasswordForm() {
  const [change, { isLoading, error, isSuccess, reset }] = useChangePasswordMutation();
  usePageTitle('Change password');
  const [form, setForm] = useState({ currentPassword: '', newPassword: '', repeat: '' });
  const { local, attempt, passes } = useLocalChecks();

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    if (isLoading) return;
    const problems: Record<string, string> = {};
    if (!form.currentPassword) problems.currentPassword = 'Please enter your current password.';
    if (form.newPassword.length < 10) problems.newPassword = 'Use at least 10 characters.';
    else if (form.newPassword !== form.repeat) problems.repeat = 'The two new passwords differ.';
    if (!passes(problems)) {
      reset();
      return;
    }
    const result = await change({ currentPassword: form.currentPassword, newPassword: form.newPassword });
    if (result.data) setForm({ currentPassword: '', newPassword: '', repeat: '' });
  };

  const errors = { ...fieldErrors(error), ...local };
  const set = fieldSetter(setForm);

  return (
    <section className="panel narrow">
      <h1>Change password</h1>
      <form onSubmit={onSubmit} noValidate aria-label="Change password">
        <ErrorSummary items={summaryItems(local, PASSWORD_LABELS, passwordId)} attempt={attempt} />
        <ErrorAlert error={error} />
        {isSuccess && !error ? (
          <p role="status" className="notice">
            Your password was changed. Other devices have been signed out.
          </p>
        ) : null}
        {PASSWORD_FIELDS.map(({ name, autoComplete, hint }) => (
          <TextField
            key={name}
            label={PASSWORD_LABELS[name]}
            type="password"
            id={passwordId(name)}
            name={name}
            autoComplete={autoComplete}
            required
            hint={hint}
            value={form[name]}
            error={errors[name]}
            onChange={set(name)}
          />
        ))}
        <SubmitButton busy={isLoading} busyLabel="Changing…" block>
          Change password
        </SubmitButton>
      </form>
    </section>
  );
}
