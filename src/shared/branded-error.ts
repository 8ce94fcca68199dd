/**
 * The one brand mechanism for the errors that steer calsync-jobs. Each subclass names its brand in
 * `static readonly brand`; instances carry `Symbol.for('calsync-jobs.<brand>')`, and `Class.is(value)`
 * checks for it, so recognition survives two copies of the package in one process (where
 * `instanceof` fails) and never depends on message text. A subclass of a branded class (a user's own
 * `class QuotaError extends RetryableError`) carries its parent's brand too.
 */
export abstract class BrandedError extends Error {
  /** The brand of this class; subclasses set it. */
  static readonly brand: string = 'BrandedError';

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    // Every brand along the class chain, so `RetryableError.is(new QuotaError())` holds.
    for (
      let ctor = new.target as unknown as typeof BrandedError | undefined;
      ctor && ctor !== BrandedError;
      ctor = Object.getPrototypeOf(ctor)
    ) {
      if (Object.hasOwn(ctor, 'brand')) Object.defineProperty(this, brandSymbol(ctor.brand), { value: true });
    }
  }

  /** True when `value` carries this class's brand. */
  static is<T extends abstract new (...args: never[]) => BrandedError>(
    this: T & { brand: string },
    value: unknown,
  ): value is InstanceType<T> {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class `is` was called on (RetryableError.is checks RetryableError's brand)
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brandSymbol(this.brand)] === true;
  }
}

function brandSymbol(brand: string): symbol {
  return Symbol.for(`calsync-jobs.${brand}`);
}
