/** The process edges a command touches, injected so commands run in tests without a process. */
export interface CliIO {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Reads standard input fully (for `-f -`). */
  readonly readStdin: () => Promise<string>;
  readonly cwd: string;
  /** Environment variables (MESHCTL_PILOT, MESHCTL_CONTEXT, HOME); absent means none. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Exit codes, as kubectl/istioctl users expect them. */
export const EXIT = {
  ok: 0,
  /** Invalid input found (validation errors, analyzer errors). */
  findings: 1,
  /** Bad usage: unknown flag or command. */
  usage: 2,
} as const;

/** processIO returns the real process's IO. */
export function processIO(): CliIO {
  // `meshctl get vs | head -1`: a reader that stops early is not an error (as kubectl, exit quietly).
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    cwd: process.cwd(),
    env: process.env,
  };
}
