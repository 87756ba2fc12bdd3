// The small admin: find products, create one, edit one, set its stock. Only shown to users
// whose `me.role` is ADMIN; the services decide authorisation regardless (a customer
// calling these gets FORBIDDEN).
import { useEffect, useState, type FormEvent } from 'react';
import { Link, Navigate, useNavigate, useParams, useSearchParams } from 'react-router';
import { useCreateProductMutation, useProductQuery, useProductsInfiniteQuery, useSetStockMutation, useUpdateProductMutation } from '../api/api';
import { fieldErrors } from '../api/errors';
import type { Product, ProductPatch } from '../api/models';
import { ErrorAlert, ErrorSummary, LoadMore, Loading, NotFound, Notice, summaryItems } from '../components/Feedback';
import { SelectField, SubmitButton, TextAreaField, TextField } from '../components/Field';
import { Money } from '../components/Money';
import { RequireAdmin } from '../components/RequireSignIn';
import { fieldSetter, useLocalChecks } from '../lib/form';
import { parseMajorAmount, toMajorText } from '../lib/money';
import { usePageTitle } from '../lib/page';

/** Currencies the services accept (shop-kit's Money). */
export const CURRENCIES = ['EUR', 'USD', 'GBP', 'CHF', 'SEK', 'NOK', 'DKK', 'PLN', 'CAD', 'AUD', 'JPY', 'KRW'];

interface ProductForm {
  sku: string;
  name: string;
  description: string;
  price: string;
  currency: string;
  category: string;
  imageUrl: string;
}

function validate(form: ProductForm, creating: boolean): Record<string, string> {
  const errors: Record<string, string> = {};
  if (creating && !/^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$/.test(form.sku.trim())) {
    errors.sku = "2 to 64 characters of A-Z, 0-9, '-', '_' or '.', starting with a letter or digit.";
  }
  if (!form.name.trim()) errors.name = 'Please enter a name.';
  if (parseMajorAmount(form.price, form.currency) === null) errors.price = 'Please enter a price such as 12.50.';
  if (!/^[a-z0-9-]+$/.test(form.category.trim().toLowerCase())) errors.category = "A slug of a-z, 0-9 and '-', e.g. kitchen.";
  const image = form.imageUrl.trim();
  if (image && !isImageUrl(image)) errors.imageUrl = 'Use a path on this shop such as /images/kitchen/KIT-001.svg, or an https:// URL.';
  return errors;
}

/** What the Product service accepts as an image: a path on this shop or an https URL. */
export function isImageUrl(url: string): boolean {
  if (/^\/[^/\\]/.test(url)) return !/\s/.test(url);
  try {
    return new URL(url).protocol === 'https:';
  } catch {
    return false;
  }
}

const FIELD_LABELS: Record<keyof ProductForm, string> = {
  sku: 'SKU',
  name: 'Name',
  description: 'Description',
  price: 'Price',
  currency: 'Currency',
  category: 'Category',
  imageUrl: 'Image URL',
};

/** How long the preview waits for typing to pause before loading an image. */
export const PREVIEW_DELAY_MS = 300;

/** The image as the shop will show it, while the admin types its URL. */
export function ImagePreview({ url }: { url: string }) {
  const [shown, setShown] = useState(url.trim());
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    const timer = setTimeout(() => {
      setShown(url.trim());
      setFailed(false);
    }, PREVIEW_DELAY_MS);
    return () => clearTimeout(timer);
  }, [url]);
  const usable = shown !== '' && isImageUrl(shown);
  return (
    <figure className="image-preview" aria-live="polite">
      {usable && !failed ? (
        <img key={shown} src={shown} alt="Preview of the product image" onError={() => setFailed(true)} />
      ) : (
        <div className="image-preview-empty" />
      )}
      <figcaption className="muted small">
        {!shown
          ? 'No image: the shop shows the product’s initials.'
          : !usable
            ? 'Not an image address the shop accepts.'
            : failed
              ? 'This image could not be loaded: check the address.'
              : 'Preview'}
      </figcaption>
    </figure>
  );
}

function ProductFields({
  form,
  setForm,
  errors,
  creating,
  idFor,
}: {
  form: ProductForm;
  setForm: (update: (f: ProductForm) => ProductForm) => void;
  errors: Record<string, string | undefined>;
  creating: boolean;
  idFor: (field: string) => string;
}) {
  const set = fieldSetter(setForm);
  return (
    <>
      {creating ? <TextField id={idFor('sku')} label="SKU" name="sku" required value={form.sku} error={errors.sku} onChange={set('sku')} hint="Cannot be changed later." /> : null}
      <TextField id={idFor('name')} label="Name" name="name" required value={form.name} error={errors.name} onChange={set('name')} />
      <TextAreaField id={idFor('description')} label="Description" name="description" rows={3} value={form.description} error={errors.description} onChange={set('description')} />
      <div className="field-row">
        <TextField id={idFor('price')} label="Price" name="price" inputMode="decimal" required value={form.price} error={errors.price} onChange={set('price')} />
        <SelectField id={idFor('currency')} label="Currency" name="currency" value={form.currency} error={errors.currency} onChange={set('currency')}>
          {CURRENCIES.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </SelectField>
      </div>
      <TextField id={idFor('category')} label="Category" name="category" required value={form.category} error={errors.category} onChange={set('category')} />
      <TextField
        id={idFor('imageUrl')}
        label="Image URL"
        name="imageUrl"
        inputMode="url"
        value={form.imageUrl}
        error={errors.imageUrl}
        onChange={set('imageUrl')}
        hint="Optional: a path on this shop (/images/…) or an https:// URL."
      />
      <ImagePreview url={form.imageUrl} />
    </>
  );
}

const createId = (field: string) => `new-product-${field}`;
const editId = (field: string) => `edit-product-${field}`;

function CreateProduct() {
  const navigate = useNavigate();
  const [create, { isLoading, error, reset }] = useCreateProductMutation();
  const [form, setForm] = useState<ProductForm>({ sku: '', name: '', description: '', price: '', currency: 'EUR', category: '', imageUrl: '' });
  const { local, attempt, passes } = useLocalChecks();

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    if (!passes(validate(form, true))) {
      reset();
      return;
    }
    const result = await create({
      sku: form.sku.trim(),
      name: form.name.trim(),
      description: form.description.trim(),
      price: { amountMinor: parseMajorAmount(form.price, form.currency) ?? 0, currency: form.currency },
      category: form.category.trim().toLowerCase(),
      imageUrl: form.imageUrl.trim(),
    });
    if (result.data) navigate(`/admin/products/${encodeURIComponent(result.data.sku)}?created=1`);
  };

  const errors = { ...fieldErrors(error, 'input.'), ...local };
  return (
    <section className="panel">
      <h2>New product</h2>
      <form onSubmit={onSubmit} noValidate aria-label="New product">
        <ErrorSummary items={summaryItems(local, FIELD_LABELS, createId)} attempt={attempt} />
        <ErrorAlert error={error} title="The product was not created." />
        <ProductFields form={form} setForm={setForm} errors={errors} creating idFor={createId} />
        <SubmitButton busy={isLoading} busyLabel="Creating…">
          Create product
        </SubmitButton>
      </form>
    </section>
  );
}

function ProductTable() {
  const [draft, setDraft] = useState('');
  const [search, setSearch] = useState('');
  const { data, error, isLoading, hasNextPage, fetchNextPage, isFetchingNextPage } = useProductsInfiniteQuery({ search });
  const products = data?.pages.flatMap((p) => p.edges.map((e) => e.node)) ?? [];
  return (
    <section className="panel">
      <h2>Products</h2>
      <form
        className="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setSearch(draft);
        }}
      >
        <div className="field grow">
          <label htmlFor="admin-search">Find products</label>
          <input id="admin-search" type="search" value={draft} onChange={(e) => setDraft(e.target.value)} placeholder="Name, SKU or category" />
        </div>
        <button type="submit" className="button">
          Find
        </button>
      </form>
      <ErrorAlert error={error} />
      {isLoading ? <Loading /> : null}
      <div className="table-scroll" role="region" aria-label="Products table" tabIndex={0}>
      <table className="lines">
        <thead>
          <tr>
            <th scope="col">SKU</th>
            <th scope="col">Name</th>
            <th scope="col" className="num">
              Price
            </th>
            <th scope="col" className="num">
              Available
            </th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {products.map((p) => (
            <tr key={p.id}>
              <td>{p.sku}</td>
              <td>{p.name}</td>
              <td className="num">
                <Money value={p.price} />
              </td>
              <td className="num">{p.stock?.available ?? '–'}</td>
              <td>
                <Link to={`/admin/products/${encodeURIComponent(p.sku)}`} aria-label={`Edit ${p.name}`}>
                  Edit
                </Link>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      </div>
      {hasNextPage ? <LoadMore fetching={isFetchingNextPage} onMore={() => void fetchNextPage()} label="Load more" /> : null}
    </section>
  );
}

function AdminHome() {
  usePageTitle('Admin');
  return (
    <>
      <h1>Admin</h1>
      <div className="admin-grid">
        <ProductTable />
        <CreateProduct />
      </div>
    </>
  );
}

export function AdminPage() {
  return (
    <RequireAdmin>
      <AdminHome />
    </RequireAdmin>
  );
}

function toForm(p: Product): ProductForm {
  return {
    sku: p.sku,
    name: p.name,
    description: p.description,
    price: toMajorText(p.price),
    currency: p.price.currency,
    category: p.category,
    imageUrl: p.imageUrl,
  };
}

/** Only the fields that changed, so a concurrent edit of other fields is not overwritten. */
export function productPatch(before: ProductForm, after: ProductForm): ProductPatch {
  const patch: ProductPatch = {};
  if (after.name.trim() !== before.name) patch.name = after.name.trim();
  if (after.description.trim() !== before.description) patch.description = after.description.trim();
  if (after.category.trim().toLowerCase() !== before.category) patch.category = after.category.trim().toLowerCase();
  if (after.imageUrl.trim() !== before.imageUrl) patch.imageUrl = after.imageUrl.trim();
  const amount = parseMajorAmount(after.price, after.currency);
  if (amount !== null && (amount !== parseMajorAmount(before.price, before.currency) || after.currency !== before.currency)) {
    patch.price = { amountMinor: amount, currency: after.currency };
  }
  return patch;
}

function EditProduct({ product }: { product: Product }) {
  const [update, { isLoading, error, isSuccess, reset }] = useUpdateProductMutation();
  const [form, setForm] = useState(() => toForm(product));
  const { local, setLocal, attempt, passes } = useLocalChecks();
  useEffect(() => setForm(toForm(product)), [product]);

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    reset();
    if (!passes(validate(form, false))) return;
    const patch = productPatch(toForm(product), form);
    if (Object.keys(patch).length === 0) {
      setLocal({ _form: 'Nothing changed.' });
      return;
    }
    await update({ id: product.id, sku: product.sku, input: patch, expectedVersion: product.version });
  };

  const errors = { ...fieldErrors(error, 'input.'), ...local };
  return (
    <section className="panel">
      <h2>Details</h2>
      <form onSubmit={onSubmit} noValidate aria-label="Edit product">
        <ErrorSummary items={summaryItems(local, FIELD_LABELS, editId)} attempt={attempt} />
        <ErrorAlert error={error} title="The product was not saved." />
        {isSuccess ? <Notice tone="success">Saved.</Notice> : null}
        {errors._form ? <p className="field-error">{errors._form}</p> : null}
        <ProductFields form={form} setForm={setForm} errors={errors} creating={false} idFor={editId} />
        <SubmitButton busy={isLoading} busyLabel="Saving…">
          Save changes
        </SubmitButton>
      </form>
    </section>
  );
}

function StockForm({ product }: { product: Product }) {
  const [setStock, { isLoading, error, isSuccess, reset }] = useSetStockMutation();
  const [onHand, setOnHand] = useState(String(product.stock?.onHand ?? 0));
  const [local, setLocal] = useState<string | undefined>();
  const [attempt, setAttempt] = useState(0);
  useEffect(() => setOnHand(String(product.stock?.onHand ?? 0)), [product.stock?.onHand]);

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    reset();
    const value = Number(onHand);
    if (!/^\d+$/.test(onHand.trim()) || !Number.isSafeInteger(value)) {
      setLocal('Enter a whole number, 0 or more.');
      setAttempt((n) => n + 1);
      return;
    }
    setLocal(undefined);
    await setStock({ sku: product.sku, onHand: value });
  };

  const stock = product.stock;
  return (
    <section className="panel">
      <h2>Stock</h2>
      {stock ? (
        <dl className="facts">
          <dt>On hand</dt>
          <dd data-testid="stock-on-hand">{stock.onHand}</dd>
          <dt>Reserved</dt>
          <dd>{stock.reserved}</dd>
          <dt>Available</dt>
          <dd data-testid="stock-available">{stock.available}</dd>
        </dl>
      ) : null}
      <form onSubmit={onSubmit} noValidate aria-label="Set stock">
        <ErrorSummary items={local ? [{ id: 'stock-onHand', label: 'Units on hand', message: local }] : []} attempt={attempt} />
        <ErrorAlert error={error} title="Stock was not changed." />
        {isSuccess ? <Notice tone="success">Stock updated.</Notice> : null}
        <TextField id="stock-onHand" label="Units on hand" name="onHand" inputMode="numeric" value={onHand} error={local ?? fieldErrors(error).onHand} onChange={(e) => setOnHand(e.target.value)} />
        <SubmitButton busy={isLoading} busyLabel="Saving…">
          Set stock
        </SubmitButton>
      </form>
    </section>
  );
}

function AdminProduct({ sku }: { sku: string }) {
  const { data: product, error, isLoading } = useProductQuery(sku);
  const [params] = useSearchParams();
  const created = params.get('created') === '1';
  usePageTitle(product ? `${product.name} · Admin` : isLoading ? 'Loading product · Admin' : 'Product not found · Admin');
  if (isLoading) return <Loading />;
  if (error) return <ErrorAlert error={error} />;
  if (!product) {
    return (
      <NotFound title="Product not found">
        There is no product {sku}. <Link to="/admin">Back to the admin</Link>
      </NotFound>
    );
  }
  // One cache entry per product: always under its canonical (upper-case) SKU.
  if (product.sku !== sku) return <Navigate to={`/admin/products/${encodeURIComponent(product.sku)}`} replace />;
  return (
    <>
      <p className="breadcrumbs">
        <Link to="/admin">Admin</Link> › {product.sku}
      </p>
      <h1>{product.name}</h1>
      {created ? <Notice tone="success">Product created. Set its stock so it can be sold.</Notice> : null}
      <p>
        <Link to={`/products/${encodeURIComponent(product.sku)}`}>View in shop</Link>
      </p>
      <div className="admin-grid">
        <EditProduct product={product} />
        <StockForm product={product} />
      </div>
    </>
  );
}

export function AdminProductPage() {
  const { sku = '' } = useParams();
  return (
    <RequireAdmin>
      <AdminProduct sku={sku} />
    </RequireAdmin>
  );
}
