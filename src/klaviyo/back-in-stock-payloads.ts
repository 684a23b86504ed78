/** The body of POST /api/back-in-stock-subscriptions (OAS create_back_in_stock_subscription) for one subscription. */
import type { BackInStockSubscription } from '../model/back-in-stock.ts';

export function backInStockBody(s: BackInStockSubscription): unknown {
  const attributes: Record<string, string> = {};
  if (s.email) attributes['email'] = s.email;
  if (s.phone_number) attributes['phone_number'] = s.phone_number;
  if (s.external_id) attributes['external_id'] = s.external_id;
  return {
    data: {
      type: 'back-in-stock-subscription',
      attributes: {
        channels: s.channels.map((c) => c.toUpperCase()),
        profile: { data: { type: 'profile', attributes } },
      },
      relationships: { variant: { data: { type: 'catalog-variant', id: s.variantId } } },
    },
  };
}
