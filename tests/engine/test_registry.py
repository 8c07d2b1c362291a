"""@task and the registry: ids, options, retry policies."""

import pytest

from realtime_runs.registry import RetryPolicy, TaskNotFound, all_tasks, get_task, task


@pytest.fixture
def registry(monkeypatch):
    """A registry of the test's own, so tasks registered here do not leak."""
    from realtime_runs import registry as module

    monkeypatch.setattr(module, "_registry", dict(module._registry))
    return module


def test_a_registered_task_is_found_by_id(registry):
    @task(id="reg-plain", max_attempts=2, max_duration="1m", queue="q")
    def plain(payload, ctx):
        return payload

    found = get_task("reg-plain")
    assert found is plain
    assert (found.max_attempts, found.max_duration, found.queue) == (2, 60.0, "q")
    assert found.is_async is False
    assert found({"x": 1}, None) == {"x": 1}
    assert "reg-plain" in all_tasks()


def test_async_tasks_are_recognised(registry):
    @task(id="reg-async")
    async def coroutine(payload, ctx):
        return 1

    assert get_task("reg-async").is_async is True


def test_an_unknown_task_is_not_found():
    with pytest.raises(TaskNotFound) as caught:
        get_task("reg-missing")
    assert caught.value.status == 404
    assert caught.value.code == "task_not_found"


@pytest.mark.parametrize("bad_id", ["", None, 5, "x" * 129])
def test_bad_ids_are_refused(bad_id):
    with pytest.raises(ValueError, match="task id"):
        task(id=bad_id)


@pytest.mark.parametrize("max_attempts", [0, -1, 1.5, "3"])
def test_bad_max_attempts_are_refused(max_attempts):
    with pytest.raises(ValueError, match="max_attempts"):
        task(id="reg-bad", max_attempts=max_attempts)


def test_unknown_retry_options_are_refused():
    with pytest.raises(ValueError, match="unknown retry option"):
        task(id="reg-bad", retry={"min_timeout": 1, "tries": 3})


def test_a_bad_max_duration_is_refused(registry):
    with pytest.raises(ValueError, match="is not a duration"):
        task(id="reg-bad", max_duration="forever")(lambda payload, ctx: None)


def test_another_function_cannot_take_a_registered_id(registry):
    @task(id="reg-taken")
    def first(payload, ctx):
        pass

    def second(payload, ctx):
        pass

    with pytest.raises(ValueError, match="already registered"):
        task(id="reg-taken")(second)


def test_retry_max_attempts_is_the_tasks_max_attempts(registry):
    @task(id="reg-retry", retry={"max_attempts": 5, "min_timeout": 0.5})
    def retried(payload, ctx):
        pass

    assert retried.max_attempts == 5
    assert retried.retry.min_timeout == 0.5


def test_backoff_is_exponential_and_capped():
    policy = RetryPolicy(factor=2, min_timeout=1, max_timeout=10, randomize=False)
    assert [policy.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_jitter_stays_within_half_to_one_and_a_half_times():
    policy = RetryPolicy(factor=2, min_timeout=4, max_timeout=100, randomize=True)
    assert policy.delay(1, rand=0.0) == 2
    assert policy.delay(1, rand=0.999) == pytest.approx(5.996)
    assert RetryPolicy(min_timeout=4, max_timeout=5).delay(1, rand=0.999) == 5  # still capped


def test_default_retry_setting_applies_to_tasks_without_their_own(settings, registry):
    @task(id="reg-defaults")
    def defaults(payload, ctx):
        pass

    @task(id="reg-own", retry={"min_timeout": 3})
    def own(payload, ctx):
        pass

    settings.REALTIME_RUNS = {
        **settings.REALTIME_RUNS,
        "DEFAULT_RETRY": {"factor": 3, "min_timeout": 0.1, "max_timeout": 5, "randomize": False},
    }
    assert [defaults.retry.delay(n) for n in (1, 2, 3)] == pytest.approx([0.1, 0.3, 0.9])
    # A task's own option wins over the default; the rest still come from the setting.
    assert [own.retry.delay(n) for n in (1, 2, 3)] == pytest.approx([3, 5, 5])
