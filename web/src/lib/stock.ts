// What a shopper is told about availability. `available` is on hand minus reserved, so it
// already accounts for other shoppers' checkouts in flight.
import type { StockLevel } from '../api/models';

/** At or below this many units the badge warns "Only N left". */
export const LOW_STOCK = 5;

export type Availability =
  | { kind: 'unknown' }
  | { kind: 'out' }
  | { kind: 'low'; left: number }
  | { kind: 'in' };

export function availability(stock: Pick<StockLevel, 'available'> | null | undefined): Availability {
  if (!stock) return { kind: 'unknown' };
  if (stock.available <= 0) return { kind: 'out' };
  if (stock.available <= LOW_STOCK) return { kind: 'low', left: stock.available };
  return { kind: 'in' };
}

export function availabilityLabel(a: Availability): string {
  switch (a.kind) {
    case 'out':
      return 'Out of stock';
    case 'low':
      return `Only ${a.left} left`;
    case 'in':
      return 'In stock';
    case 'unknown':
      return 'Availability unknown';
  }
}
