# Raw files → verified manifest → one prepared uint8 .npz per dataset.


def fetch_args():
    data = config["data"]
    shared = " ".join(f"--shared-root {r}" for r in data.get("shared_roots", []))
    mirror = f"--mirror {data['mirror']}" if data.get("mirror") else ""
    return f"--root {data['root']} {shared} {mirror}"


def manifest_of(wildcards):
    # Synthetic stand-ins are generated, so they have nothing to download.
    if DATASETS[wildcards.dataset].is_synthetic:
        return []
    return f"resources/downloads/{wildcards.dataset}.json"


rule download:
    output:
        "resources/downloads/{dataset}.json",
    log:
        "resources/logs/download/{dataset}.log",
    localrule: True
    params:
        args=fetch_args(),
        progress="" if config.get("progress", True) else "--no-progress",
    shell:
        "{PY} -m robustrepro fetch --dataset {wildcards.dataset} {params.args} {params.progress} "
        "--manifest {output} > {log} 2>&1"


rule prepare:
    input:
        manifest_of,
    output:
        f"{PREPARED}/{{dataset}}.npz",
    log:
        "resources/logs/prepare/{dataset}.log",
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        manifest=lambda wildcards, input: f"--manifest {input[0]}" if input else "",
    shell:
        "{PY} -m robustrepro prepare --dataset {wildcards.dataset} {params.manifest} "
        "--out {output} > {log} 2>&1"
