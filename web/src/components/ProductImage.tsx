// Product pictures come as URLs from the catalog (the demo seed writes one SVG per product
// under /images/<category>/<sku>.svg, which the BFF serves). Only when there is no URL or
// the image does not load does a tinted tile with the initials stand in.
import { useState } from 'react';

const HUES: Record<string, number> = {};

function hue(text: string): number {
  if (HUES[text] !== undefined) return HUES[text];
  let h = 0;
  for (const c of text) h = (h * 31 + c.charCodeAt(0)) % 360;
  HUES[text] = h;
  return h;
}

function initials(name: string): string {
  return name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => w[0]?.toUpperCase() ?? '')
    .join('');
}

export function ProductImage({
  src,
  name,
  category,
  size = 'card',
}: {
  src: string;
  name: string;
  category: string;
  size?: 'card' | 'large' | 'thumb';
}) {
  const [failed, setFailed] = useState(false);
  if (!src || failed) {
    return (
      <div
        className={`product-image placeholder ${size}`}
        style={{ backgroundColor: `hsl(${hue(`${category}/${name}`)} 45% 88%)` }}
        role="img"
        aria-label={name}
      >
        <span aria-hidden="true">{initials(name)}</span>
      </div>
    );
  }
  return (
    <img
      className={`product-image ${size}`}
      src={src}
      alt={name}
      width={400}
      height={300}
      loading="lazy"
      decoding="async"
      onError={() => setFailed(true)}
    />
  );
}
