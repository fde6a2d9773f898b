# Reported vs reproduced numbers with the claims checked, and an index of every target.


rule comparison:
    input:
        paper_groups,
    output:
        tex="results/{scale}/{paper}/comparison.tex",
        csv=report(
            "results/{scale}/{paper}/comparison.csv",
            caption="../workflow/report/comparison.rst",
            category="{paper}",
            subcategory="{scale} scale",
            labels={"target": "comparison", "kind": "table"},
        ),
        claims=report(
            "results/{scale}/{paper}/claims.csv",
            caption="../workflow/report/claims.rst",
            category="{paper}",
            subcategory="{scale} scale",
            labels={"target": "claims", "kind": "table"},
        ),
        claims_tex="results/{scale}/{paper}/claims.tex",
    log:
        "results/{scale}/logs/targets/{paper}-comparison.log",
    localrule: True
    conda:
        ENV
    params:
        papers=PAPER_MODULE_ARGS,
    shell:
        "python -m robustrepro compare --paper {wildcards.paper:q} --scale {wildcards.scale:q} "
        "--results-dir results/{wildcards.scale:q}/{wildcards.paper:q} {params.papers:q} --groups {input:q} "
        "> {log:q} 2>&1"


rule index:
    input:
        one_line_errors(lambda wildcards: [f for p in PAPERS.values() for f in paper_outputs(lookup_scale(wildcards), p)]),
    output:
        "results/{scale}/index.md",
    log:
        "results/{scale}/logs/index.log",
    localrule: True
    conda:
        ENV
    params:
        # Targets left out for missing data, with why: the index lists them.
        skipped=lambda wildcards: json.dumps(all_skipped(wildcards.scale), sort_keys=True),
        papers=PAPER_MODULE_ARGS,
    shell:
        "python -m robustrepro index --scale {wildcards.scale:q} --skipped {params.skipped:q} {params.papers:q} "
        "--out {output:q} > {log:q} 2>&1"
