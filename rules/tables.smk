# Run outputs → one CSV per run group → LaTeX tables (booktabs) with the same numbers as CSV.


rule collect:
    input:
        group_run_files,
    output:
        "results/{scale}/{paper}/groups/{group}.csv",
    log:
        "results/{scale}/logs/collect/{paper}-{group}.log",
    localrule: True
    conda:
        ENV
    params:
        seeds=",".join(map(str, SEEDS)),
        papers=PAPER_MODULE_ARGS,
    shell:
        "python -m robustrepro collect --paper {wildcards.paper:q} --group {wildcards.group:q} "
        "--scale {wildcards.scale:q} --seeds {params.seeds:q} --runs-root results/{wildcards.scale:q}/runs "
        "--evals-root results/{wildcards.scale:q}/evals {params.papers:q} --out {output:q} > {log:q} 2>&1"


rule table:
    input:
        target_groups("table"),
        images=target_images("table"),
    output:
        tex="results/{scale}/{paper}/{target}.tex",
        csv=report(
            "results/{scale}/{paper}/{target}.csv",
            caption="../workflow/report/target.rst",
            category="{paper}",
            subcategory="{scale} scale",
            labels={"target": "{target}", "kind": "table"},
        ),
    log:
        "results/{scale}/logs/targets/{paper}-{target}.log",
    localrule: True
    conda:
        ENV
    wildcard_constraints:
        target=TARGET_NAMES["table"],
    params:
        caption=caption_of,
        papers=PAPER_MODULE_ARGS,
        images=images_args("table"),
    shell:
        "python -m robustrepro target --paper {wildcards.paper:q} --target {wildcards.target:q} "
        "--scale {wildcards.scale:q} --results-dir results/{wildcards.scale:q}/{wildcards.paper:q} "
        "--runs-root results/{wildcards.scale:q}/runs {params.images:q} {params.papers:q} > {log:q} 2>&1"
