// tfjs-core alone registers no gradient functions; the umbrella package registers them all. Its ES build's
// registration module cannot be imported by Node directly (directory imports), so import the package itself:
// Node loads its CommonJS build and bundlers its ES build, both register into the one global registry.
import '@tensorflow/tfjs';
