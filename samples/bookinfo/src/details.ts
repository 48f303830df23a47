/**
 * details: the book's facts. `/details/<id>` answers the one book the sample knows, under any
 * numeric id (Istio's details does the same); a non-numeric id is a 400.
 */
import { json, type Handler } from './server.js';

/** The book details of product `id`, field for field as Istio's details service answers them. */
export function bookDetails(id: number): Record<string, unknown> {
  return {
    id,
    author: 'William Shakespeare',
    year: 1595,
    type: 'paperback',
    pages: 200,
    publisher: 'PublisherA',
    language: 'English',
    'ISBN-10': '1234567890',
    'ISBN-13': '123-1234567890',
  };
}

/** detailsHandler returns the details service: GET /details/<id> and /health. */
export function detailsHandler(): Handler {
  return async (req) => {
    if (req.path === '/health') return json(200, { status: 'Details is healthy' });
    if (req.path === '/details' || req.path.startsWith('/details/')) {
      const last = req.path.split('/').pop() ?? '';
      if (!/^-?\d+$/.test(last)) return json(400, { error: 'please provide numeric product id' });
      return json(200, bookDetails(Number(last)));
    }
    return json(404, { error: 'not found' });
  };
}
