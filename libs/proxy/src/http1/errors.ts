import { HttpParseError } from '../errors.js';

/**
 * A malformed or unacceptable HTTP/1.1 message, with the status the proxy answers it with when it
 * came from downstream (400 malformed, 431 head too large, 501 unknown transfer coding, 505
 * version). From upstream the same error means a broken response (503, flag UC).
 */
export class Http1Error extends HttpParseError {
  constructor(
    readonly status: 400 | 431 | 501 | 505,
    message: string,
  ) {
    super(message);
  }
}
