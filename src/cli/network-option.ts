/** A learned network given on the command line as JSON (--student-network, --network), validated like a config. */
import { LEARNED_NETWORK_TYPES, type LearnedNetworkSpec, isLearnedNetwork } from '../core/nets';
import { DEFAULT_EDM, type DataSpec, parseConfig } from '../formats/config';
import { ModelFileError } from '../formats/errors';
import { UsageError } from './args';

export function parseNetworkOption(json: string, data: DataSpec, option: string, command: string): LearnedNetworkSpec {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new UsageError(`${command}: ${option} is not valid JSON: ${json}`);
  }
  let network;
  try {
    network = parseConfig({ format: 'pid-studio/1', role: 'teacher', name: option, data, edm: DEFAULT_EDM, network: value }, option).network;
  } catch (e) {
    if (e instanceof ModelFileError) throw new UsageError(`${command}: ${e.message}`);
    throw e;
  }
  if (!isLearnedNetwork(network)) throw new UsageError(`${command}: ${option} must be a learned network type (${LEARNED_NETWORK_TYPES.join(', ')})`);
  return network;
}
