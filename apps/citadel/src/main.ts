// Tracing must be on before @grpc/grpc-js loads (its instrumentation patches the module when it is required),
// so the rest of citadel is imported only after it.
import { startTracing } from '@flotilla/tracing';
import { APP_VERSION } from './version';

const tracing = startTracing('citadel', APP_VERSION);
void import('./citadel.js').then(({ main }) => main(process.argv, tracing));
