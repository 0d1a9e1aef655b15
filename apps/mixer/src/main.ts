// Tracing must be on before @grpc/grpc-js loads (its instrumentation patches the module when it is required),
// so the rest of mixer is imported only after it.
import { startTracing } from '@flotilla/tracing';
import { APP_VERSION } from './version';

const tracing = startTracing('mixer', APP_VERSION);
void import('./mixer.js').then(({ main }) => main(process.argv, tracing));
