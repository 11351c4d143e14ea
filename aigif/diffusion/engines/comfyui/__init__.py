"""The ComfyUI engine: ComfyUI's generation semantics (its noise, its schedulers over
ModelSamplingDiscrete, its copy of the k-diffusion samplers, its CFG batching), written in
this project and checked against goldens made by running ComfyUI's own code
(tests/goldens/comfyui/)."""
