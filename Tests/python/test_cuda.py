"""swiftfunc.cuda answers as a CPU-only torch build: no device, seeding is a no-op, and what needs a
device raises DeviceError; programs that pick their device with it run on the CPU."""
import pytest

import swiftfunc as sf


def test_there_is_no_cuda_device():
    assert sf.cuda.is_available() is False
    assert sf.cuda.device_count() == 0
    assert sf.cuda.is_initialized() is False
    sf.cuda.manual_seed(0)
    sf.cuda.manual_seed_all(0)
    sf.cuda.empty_cache()
    for call in (sf.cuda.current_device, sf.cuda.synchronize):
        with pytest.raises(sf.DeviceError, match="CPU only"):
            call()


def test_the_usual_device_choice_gives_the_cpu():
    device = "cuda" if sf.cuda.is_available() else "cpu"
    x = sf.randn(3, device=device)
    assert x.device == "cpu"
    assert sf.nn.Linear(3, 2).to(device)(x).shape == (2,)
