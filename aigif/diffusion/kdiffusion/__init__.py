"""k-diffusion's sampling algorithms and sigma schedules, written in this project.

A1111 and ComfyUI both sample with (their copies of) k-diffusion; the engines share these
functions and differ in how they wire noise, schedules and conditioning into them.
"""
