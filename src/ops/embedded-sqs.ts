/**
 * An SQS-compatible server (fauxqs) inside this process, for tests and `npm start`: no set-up, no
 * Docker. It listens on 127.0.0.1 only (fauxqs's own `startFauxqs` binds every interface).
 */
import { buildApp } from 'fauxqs';

/** Options of {@link startEmbeddedSqs}. */
export interface EmbeddedSqsOptions {
  /** TCP port on 127.0.0.1; 0 picks a free one. @defaultValue 0 */
  port?: number;
  /** Region used for queue ARNs when a request does not say. @defaultValue 'us-east-1' */
  region?: string;
}

/** A running embedded server. Point `SqsTransport` at `endpoint`. */
export interface EmbeddedSqs {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  /** Closes the listener and every open connection (pending long polls included). Idempotent. */
  stop(): Promise<void>;
}

/** Starts fauxqs on 127.0.0.1 with its logger off. Queues live in memory until `stop()`. */
export async function startEmbeddedSqs({ port = 0, region = 'us-east-1' }: EmbeddedSqsOptions = {}): Promise<EmbeddedSqs> {
  const app = buildApp({ logger: false, defaultRegion: region });
  const address = await app.listen({ port, host: '127.0.0.1' });
  const actualPort = Number(new URL(address).port);
  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${actualPort}`,
    port: actualPort,
    stop() {
      stopping ??= app.close().then(() => undefined);
      return stopping;
    },
  };
}
