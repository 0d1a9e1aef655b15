export { freePorts } from './ports';
export { waitFor } from './wait';
