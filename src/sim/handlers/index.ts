/** Endpoint name → handler. Every endpoint of endpoints.ts has one. */
import type { EndpointName } from '../../klaviyo/endpoints.ts';
import { createBackInStockSubscription } from './back-in-stock.ts';
import { bulkCreateCouponCodes, getBulkCreateCouponCodesJob } from './coupons.ts';
import { bulkImportProfiles, getBulkImportProfilesJob, getBulkImportProfilesJobErrors } from './bulk-import.ts';
import { CATALOG_HANDLERS } from './catalog.ts';
import type { Handler } from './context.ts';
import { bulkCreateEvents, createEvent } from './events.ts';
import { addProfilesToList, removeProfilesFromList } from './lists.ts';
import { createOrUpdateProfile, createProfile, updateProfile } from './profiles.ts';
import { getAccounts, getProfiles } from './reads.ts';
import { bulkSuppressProfiles, bulkUnsuppressProfiles, requestProfileDeletion } from './privacy.ts';
import { bulkSubscribeProfiles, bulkUnsubscribeProfiles } from './subscriptions.ts';
import { createWebhook, deleteWebhook, getWebhook, getWebhooks, getWebhookTopics, updateWebhook } from './webhooks.ts';

export const HANDLERS: Readonly<Record<EndpointName, Handler>> = {
  create_event: createEvent,
  bulk_create_events: bulkCreateEvents,
  create_or_update_profile: createOrUpdateProfile,
  create_profile: createProfile,
  update_profile: updateProfile,
  bulk_import_profiles: bulkImportProfiles,
  get_bulk_import_profiles_job: getBulkImportProfilesJob,
  get_bulk_import_profiles_job_errors: getBulkImportProfilesJobErrors,
  add_profiles_to_list: addProfilesToList,
  remove_profiles_from_list: removeProfilesFromList,
  bulk_subscribe_profiles: bulkSubscribeProfiles,
  bulk_unsubscribe_profiles: bulkUnsubscribeProfiles,
  bulk_suppress_profiles: bulkSuppressProfiles,
  bulk_unsuppress_profiles: bulkUnsuppressProfiles,
  request_profile_deletion: requestProfileDeletion,
  get_profiles: getProfiles,
  get_accounts: getAccounts,
  get_webhook_topics: getWebhookTopics,
  get_webhooks: getWebhooks,
  create_webhook: createWebhook,
  get_webhook: getWebhook,
  update_webhook: updateWebhook,
  delete_webhook: deleteWebhook,
  ...CATALOG_HANDLERS,
  create_back_in_stock_subscription: createBackInStockSubscription,
  bulk_create_coupon_codes: bulkCreateCouponCodes,
  get_bulk_create_coupon_codes_job: getBulkCreateCouponCodesJob,
};
