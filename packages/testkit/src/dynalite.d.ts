// dynalite ships no types; this covers the part the testkit uses.
declare module 'dynalite' {
  import type { Server } from 'node:http';

  /** Options of `dynalite()`. */
  interface DynaliteOptions {
    /** Milliseconds a new table stays CREATING. @default 500 */
    createTableMs?: number;
    /** Milliseconds a deleted table stays DELETING. @default 500 */
    deleteTableMs?: number;
    /** Milliseconds an updated table stays UPDATING. @default 500 */
    updateTableMs?: number;
    /** Maximum item size in KB. @default 400 */
    maxItemSizeKb?: number;
    /** LevelDB directory; in memory when omitted. */
    path?: string;
    /** Log every request. */
    verbose?: boolean;
    /** Log internals. */
    debug?: boolean;
  }

  /** Creates (does not start) an HTTP server that speaks the DynamoDB API. */
  function dynalite(options?: DynaliteOptions): Server;

  export = dynalite;
}
