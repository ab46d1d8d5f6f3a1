"""sampleChop: chop a record into sampler pads with a trained chop-point model.

One import namespace for the three parts the design names, so installing sampleChop adds no generic top-level
package names: :mod:`samplechop.shared_features` (decoding and the features trainer and service share),
:mod:`samplechop.trainer` (corpus, network, export) and :mod:`samplechop.service` (engine, CLI, HTTP service).
"""
