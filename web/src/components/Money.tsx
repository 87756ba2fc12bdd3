import type { Money as MoneyValue } from '../api/models';
import { formatMoney } from '../lib/money';

export function Money({ value, className }: { value: Pick<MoneyValue, 'amountMinor' | 'currency'>; className?: string }) {
  return <span className={className ?? 'money'}>{formatMoney(value)}</span>;
}
