/**
 * The profile operations the workers carry out, whatever route or rule they came from.
 */
import type { ProfileUpsertInput } from './profile-requests.ts';

/** Identifies a profile: any of Klaviyo's identifiers, or Klaviyo's own profile id (`kid`) when we know it. */
export interface ProfileRef {
  readonly email?: string;
  readonly phone_number?: string;
  readonly external_id?: string;
  readonly anonymous_id?: string;
  readonly kid?: string;
}

export type Channel = 'email' | 'sms';

export type ProfileOp =
  | { readonly op: 'upsert'; readonly profile: Omit<ProfileUpsertInput, 'lists' | 'id'> & { readonly kid?: string } }
  | { readonly op: 'list-add' | 'list-remove'; readonly listId: string; readonly member: ProfileRef }
  | { readonly op: 'subscribe'; readonly listId: string | null; readonly member: ProfileRef; readonly channels: readonly Channel[]; readonly source?: string }
  | {
      readonly op: 'unsubscribe';
      readonly listId: string | null;
      readonly member: ProfileRef;
      readonly channels: readonly Channel[];
      readonly source?: string;
    }
  /** Suppress (or lift the suppression of) marketing email to this address, without erasing the person (issue 16). */
  | { readonly op: 'suppress' | 'unsuppress'; readonly member: { readonly email: string } }
  /**
   * Erase the person at Klaviyo (issue 16): `member` holds exactly one of email, phone number or
   * Klaviyo id (`kid`). Its job is removed once done, so the identifier does not outlive the request.
   */
  | { readonly op: 'erase'; readonly member: ProfileRef };

const IDENTIFIER_ORDER = ['email', 'phone_number', 'external_id', 'anonymous_id', 'kid'] as const;

/** The identifier a profile is ordered and cached by: the first present of email, phone, external id, anonymous id, Klaviyo id. */
export function primaryIdentifier(ref: ProfileRef): { field: (typeof IDENTIFIER_ORDER)[number]; value: string } | undefined {
  for (const field of IDENTIFIER_ORDER) {
    const v = ref[field];
    if (typeof v === 'string' && v !== '') return { field, value: field === 'email' ? v.trim().toLowerCase() : v.trim() };
  }
  return undefined;
}

/** The profile an operation is about: the upserted profile, or the list member. */
export function profileOf(op: ProfileOp): ProfileRef {
  return op.op === 'upsert' ? op.profile : op.member;
}
