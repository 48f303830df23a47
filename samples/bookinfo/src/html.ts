/**
 * productpage's HTML, written for this sample (not Istio's template), with the markers Istio's
 * page has so the same checks work on both: one `<span class="glyphicon glyphicon-star">` per full
 * star and `glyphicon-star-empty` per empty one inside `<font color="black|red">`, "Error fetching
 * product reviews!" with the error text, and the signed-in user's name beside "sign out".
 */

/** A product of the store. */
export interface Product {
  readonly id: number;
  readonly title: string;
  readonly descriptionHtml: string;
}

/** One review as reviews answers it. */
export interface Review {
  readonly reviewer: string;
  readonly text: string;
  readonly rating?: { stars?: number; color?: string; error?: string };
}

/** What the product page shows. */
export interface ProductPageModel {
  readonly product: Product;
  readonly user: string | undefined;
  readonly detailsStatus: number;
  readonly details: Record<string, unknown>;
  readonly reviewsStatus: number;
  readonly reviews: { reviews?: Review[]; podname?: string; clustername?: string; error?: string };
}

/** escapeHtml returns `v` as text safe inside HTML elements and attribute values. */
export function escapeHtml(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

const STYLE = `body{font-family:Helvetica,Arial,sans-serif;margin:0;color:#333}
nav{background:#222;color:#ddd;padding:10px 20px;display:flex;justify-content:space-between;align-items:center}
nav a{color:#9cf}.container{padding:10px 20px}.row{display:flex;gap:40px;flex-wrap:wrap}.col{flex:1;min-width:300px}
h3,h4{color:#337ab7;text-align:center}blockquote{border-left:5px solid #eee;margin:0 0 20px;padding:10px 20px}
.glyphicon:before{content:"\\2605"}.glyphicon[class$="empty"]:before{content:"\\2606"}dt{font-weight:bold}`;

function stars(r: Review): string {
  const rating = r.rating;
  if (!rating) return '';
  if (typeof rating.stars === 'number' && rating.stars > 0) {
    const full = Math.min(5, Math.max(0, Math.trunc(rating.stars)));
    return `<font color="${escapeHtml(rating.color)}">\n${'<span class="glyphicon glyphicon-star"></span>\n'.repeat(full)}${'<span class="glyphicon glyphicon-star-empty"></span>\n'.repeat(5 - full)}</font>`;
  }
  if (rating.error) return `<p><i>${escapeHtml(rating.error)}</i></p>`;
  return '';
}

/** renderProductPage returns the product page HTML. */
export function renderProductPage(m: ProductPageModel): string {
  const login = m.user
    ? `<span class="user">${escapeHtml(m.user)} ( <a href="logout">sign out</a> )</span>`
    : `<form method="post" action="login" name="login_form"><input type="text" name="username" placeholder="User Name"> <input type="password" name="passwd" placeholder="Password"> <button type="submit">Sign in</button></form>`;
  const d = m.details;
  const details =
    m.detailsStatus === 200
      ? `<h4>Book Details</h4>\n<dl>\n<dt>Type:</dt><dd>${escapeHtml(d.type)}</dd>\n<dt>Pages:</dt><dd>${escapeHtml(d.pages)}</dd>\n<dt>Publisher:</dt><dd>${escapeHtml(d.publisher)}</dd>\n<dt>Language:</dt><dd>${escapeHtml(d.language)}</dd>\n<dt>ISBN-10:</dt><dd>${escapeHtml(d['ISBN-10'])}</dd>\n<dt>ISBN-13:</dt><dd>${escapeHtml(d['ISBN-13'])}</dd>\n</dl>`
      : `<h4>Error fetching product details!</h4>\n<p>${escapeHtml(d.error)}</p>`;
  const reviews =
    m.reviewsStatus === 200
      ? `<h4>Book Reviews</h4>\n${(m.reviews.reviews ?? [])
          .map((r) => `<blockquote>\n<p>${escapeHtml(r.text)}</p>\n<small>${escapeHtml(r.reviewer)}</small>\n${stars(r)}\n</blockquote>`)
          .join('\n')}\n<dl><dt>Reviews served by:</dt><dd class="reviews-pod">${escapeHtml(m.reviews.podname)}${m.reviews.clustername && m.reviews.clustername !== 'null' ? ` on ${escapeHtml(m.reviews.clustername)}` : ''}</dd></dl>`
      : `<h4>Error fetching product reviews!</h4>\n<p>${escapeHtml(m.reviews.error)}</p>`;
  return `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1.0"><title>Simple Bookstore App</title><style>${STYLE}</style></head>
<body>
<nav><span class="brand">BookInfo Sample</span>${login}</nav>
<div class="container">
<h3>${escapeHtml(m.product.title)}</h3>
<p>Summary: ${m.product.descriptionHtml}</p>
<div class="row">
<div class="col details">
${details}
</div>
<div class="col reviews">
${reviews}
</div>
</div>
</div>
</body>
</html>
`;
}

/** renderIndex returns the landing page: what the sample is made of and links to the product page. */
export function renderIndex(services: Record<string, string>): string {
  const rows = Object.entries(services)
    .map(([name, url]) => `<tr><td>${escapeHtml(name)}</td><td>${escapeHtml(url)}</td></tr>`)
    .join('\n');
  return `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Simple Bookstore App</title><style>${STYLE}</style></head>
<body>
<nav><span class="brand">BookInfo Sample</span></nav>
<div class="container">
<h3>Hello! This is a simple bookstore application consisting of three services as shown below</h3>
<table>
<tr><th>service</th><th>called at</th></tr>
${rows}
</table>
<p>Click on one of the links below to auto generate a request to the backend as a real user or a tester</p>
<p><a href="productpage?u=normal">Normal user</a></p>
<p><a href="productpage?u=test">Test user</a></p>
</div>
</body>
</html>
`;
}
