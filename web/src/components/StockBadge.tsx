import type { StockLevel } from '../api/models';
import { availability, availabilityLabel } from '../lib/stock';

export function StockBadge({ stock }: { stock: Pick<StockLevel, 'available'> | null | undefined }) {
  const a = availability(stock);
  if (a.kind === 'unknown') return null;
  return <span className={`badge badge-stock-${a.kind}`}>{availabilityLabel(a)}</span>;
}
