import { describe, expect, it } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { ChangePasswordPage } from './AuthPages';
import { gqlError, mockGraphQL, renderApp, signedInAuth, signedOutAuth, user } from '../test/utils';

describe('ChangePasswordPage', () => {
  it('changes the password and keeps this session with the fresh token', async () => {
    const fake = mockGraphQL({
      ChangePassword: (vars) =>
        vars.currentPassword === 'old-password-1'
          ? { data: { changePassword: { accessToken: 'access-2', expiresIn: 900, user: user() } } }
          : gqlError('BAD_USER_INPUT', 'invalid input: currentPassword: is not the current password', {
              field: 'currentPassword',
              fields: [{ field: 'currentPassword', message: 'is not the current password' }],
            }),
      Me: () => ({ data: { me: user() } }),
      Cart: () => ({ data: { cart: null } }),
    });
    const { store } = renderApp(<ChangePasswordPage />, { auth: signedInAuth() });
    await userEvent.type(await screen.findByLabelText(/Current password/), 'wrong-password');
    await userEvent.type(screen.getByLabelText(/^New password/), 'new-password-22');
    await userEvent.type(screen.getByLabelText(/Repeat/), 'new-password-22');
    await userEvent.click(screen.getByRole('button', { name: 'Change password' }));
    expect(await screen.findByText('is not the current password')).toBeInTheDocument();

    await userEvent.clear(screen.getByLabelText(/Current password/));
    await userEvent.type(screen.getByLabelText(/Current password/), 'old-password-1');
    await userEvent.click(screen.getByRole('button', { name: 'Change password' }));
    expect(await screen.findByRole('status')).toHaveTextContent(/Other devices have been signed out/);
    await waitFor(() => expect(store.getState().auth.accessToken).toBe('access-2'));
    expect(fake.sent('ChangePassword').at(-1)?.variables).toEqual({ currentPassword: 'old-password-1', newPassword: 'new-password-22' });
  });

  it('checks the form before sending', async () => {
    const fake = mockGraphQL({ Me: () => ({ data: { me: user() } }), Cart: () => ({ data: { cart: null } }) });
    renderApp(<ChangePasswordPage />, { auth: signedInAuth() });
    await userEvent.type(await screen.findByLabelText(/Current password/), 'old-password-1');
    await userEvent.type(screen.getByLabelText(/^New password/), 'new-password-22');
    await userEvent.type(screen.getByLabelText(/Repeat/), 'new-password-23');
    await userEvent.click(screen.getByRole('button', { name: 'Change password' }));
    expect(await screen.findByText('The two new passwords differ.')).toBeInTheDocument();
    expect(fake.sent('ChangePassword')).toHaveLength(0);
  });

  it('waits for the session check before asking a reloaded user to sign in', async () => {
    mockGraphQL({});
    renderApp(<ChangePasswordPage />, { auth: { ...signedOutAuth, restoring: true } });
    expect(await screen.findByText(/Checking your session/)).toBeInTheDocument();
    expect(screen.queryByRole('link', { name: 'Sign in' })).toBeNull();
  });
});
