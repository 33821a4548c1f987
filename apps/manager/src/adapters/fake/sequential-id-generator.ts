import { UlidIdGenerator } from '../system/ulid-id-generator.js';

const crockford = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Predictable, increasing ULIDs: `01J00000000000000000000001`, `01J00000000000000000000002`, … */
function sequentialUlids(): () => string {
  let counter = 0;
  return () => {
    counter += 1;
    let n = counter;
    let body = '';
    while (n > 0) {
      body = crockford[n % 32] + body;
      n = Math.floor(n / 32);
    }
    return `01J${body.padStart(23, '0')}`;
  };
}

/** Predictable, increasing ids: `vm_01J00000000000000000000001`, … */
export class SequentialIdGenerator extends UlidIdGenerator {
  constructor() {
    super(sequentialUlids());
  }
}
