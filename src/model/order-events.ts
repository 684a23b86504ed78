/**
 * An order → Klaviyo's e-commerce events, following Klaviyo's guide for platforms without a
 * pre-built integration: "Placed Order" (value = order total, items summarised in ItemNames,
 * Categories, Brands and an Items array), one "Ordered Product" per line (value = line total),
 * and "Fulfilled Order" / "Cancelled Order" / "Refunded Order" for those statuses.
 *
 * Each event is named by its part of the order — `placed`, `line:<index>`, `fulfilled`… — which
 * its item key and unique_id are made from (src/item-keys.ts), so a retried or replayed order
 * never duplicates and two lines with the same product never collide.
 */
import { type OrderPart, orderLinePart } from '../item-keys.ts';
import type { EventInput } from './event.ts';
import type { OrderInput } from './order.ts';

export interface OrderEvent {
  readonly part: OrderPart;
  readonly event: EventInput;
}

const STATUS_METRIC = { fulfilled: 'Fulfilled Order', cancelled: 'Cancelled Order', refunded: 'Refunded Order' } as const;

const round2 = (n: number) => Math.round(n * 100) / 100;

export function orderEvents(order: OrderInput, now = new Date()): OrderEvent[] {
  const unique = <T>(xs: T[]) => [...new Set(xs)];
  const summary: Record<string, unknown> = {
    OrderId: order.id,
    ItemNames: order.items.map((i) => i.name),
    Categories: unique(order.items.flatMap((i) => i.categories ?? [])),
    Brands: unique(order.items.flatMap((i) => (i.brand ? [i.brand] : []))),
    ItemCount: order.items.reduce((n, i) => n + i.quantity, 0),
    Items: order.items.map((i) => ({
      ProductID: i.product_id,
      ...(i.sku ? { SKU: i.sku } : {}),
      ProductName: i.name,
      Quantity: i.quantity,
      ItemPrice: i.price,
      RowTotal: round2(i.price * i.quantity),
      ...(i.url ? { ProductURL: i.url } : {}),
      ...(i.image_url ? { ImageURL: i.image_url } : {}),
      ...(i.categories ? { Categories: i.categories } : {}),
      ...(i.brand ? { Brand: i.brand } : {}),
    })),
  };
  if (order.discount_codes?.length) summary.DiscountCode = order.discount_codes.join(',');
  if (order.discount_value !== undefined) summary.DiscountValue = order.discount_value;

  // `backfill` applies to the order's every event: a historical order triggers no flow.
  const base = { profile: order.profile, value_currency: order.currency, ...(order.backfill !== undefined ? { backfill: order.backfill } : {}) };
  const events: OrderEvent[] = [
    { part: 'placed', event: { ...base, event: 'Placed Order', value: order.value, time: order.time, properties: summary } },
    ...order.items.map((i, index) => ({
      part: orderLinePart(index),
      event: {
        ...base,
        event: 'Ordered Product',
        value: round2(i.price * i.quantity),
        time: order.time,
        properties: {
          OrderId: order.id,
          ProductID: i.product_id,
          ...(i.sku ? { SKU: i.sku } : {}),
          ProductName: i.name,
          Quantity: i.quantity,
          ItemPrice: i.price,
          ...(i.url ? { ProductURL: i.url } : {}),
          ...(i.image_url ? { ImageURL: i.image_url } : {}),
          ...(i.categories ? { Categories: i.categories } : {}),
          ...(i.brand ? { ProductBrand: i.brand } : {}),
        },
      },
    })),
  ];
  if (order.status !== 'placed') {
    const time = order.status_time ?? now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    events.push({ part: order.status, event: { ...base, event: STATUS_METRIC[order.status], value: order.value, time, properties: summary } });
  }
  // Drop undefined times so the payload carries only what was given.
  return events.map((e) => ({ part: e.part, event: Object.fromEntries(Object.entries(e.event).filter(([, v]) => v !== undefined)) as EventInput }));
}
