/**
 * The calendar jobs' migrations: the package's top-level `migrations/NNN_name.sql`, in the connection's
 * default schema, through the one migration runner (src/shared/migrate.ts) the job store uses too.
 */
export { migrate } from '../../shared/migrate.js';
